fn main() -> std::process::ExitCode {
    bb::cli::main()
}
