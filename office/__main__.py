from office.cli import main

# Guarded: `search reindex` starts analysis workers with spawn, which imports this module.
if __name__ == "__main__":
    main()
