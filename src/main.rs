/// mimalloc rather than the system allocator: glibc keeps memory freed by many threads in
/// per-thread arenas, so after a burst of 1000 connections the gateway's RSS stayed near
/// 100 MiB (benches/load/run.sh); mimalloc hands freed pages back and is faster for hyper's
/// many small allocations. Built with `no_thp`: otherwise it asks for transparent huge pages
/// on its arenas, and every 2 MiB page touched counts whole in RSS (9 -> 18 MiB at rest,
/// 15 -> 45 MiB during a 1 GiB download, 72 -> 110 MiB at 1000 connections; no throughput
/// gained).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tollgate::cli::main()
}
