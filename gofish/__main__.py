from gofish.node.cli import main

main()
