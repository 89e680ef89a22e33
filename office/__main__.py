from office.cli import main

main()
