use std::process::ExitCode;

fn main() -> ExitCode {
    gitops_migrate::cli::main()
}
