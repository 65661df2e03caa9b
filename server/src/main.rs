//! `rollcall`: the server binary. Everything lives in the library; see `rollcall --help`.

// The push writer's per-op allocations made glibc malloc (arena locks, consolidation) about a
// third of its time under load; mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rollcall_server::cli::main()
}
