from laketown.cli import main

main()
