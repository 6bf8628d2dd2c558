/// mimalloc rather than the system allocator: glibc keeps memory freed by many threads in
/// per-thread arenas, so after a burst of 1000 connections the gateway's RSS stayed near
/// 100 MiB (benches/load/run.sh); mimalloc hands freed pages back and is faster for hyper's
/// many small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tollgate::cli::main()
}
