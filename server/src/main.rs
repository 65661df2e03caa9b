//! `rollcall`: the server binary. Everything lives in the library; see `rollcall --help`.

fn main() -> std::process::ExitCode {
    rollcall_server::cli::main()
}
