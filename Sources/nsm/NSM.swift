import NSMCLI

// The entry point is the root command itself, so ArgumentParser runs its async `main()`.
@main
extension NSMCommand {}
