//! execve from the kernel (Linux: fs/exec.c kernel_execve, exec_mmap,
//! begin_new_exec).
//!
//! A kernel thread becomes a user process by exec'ing a program: a new
//! address space is built and filled while the old one is still in use,
//! and only when everything that can fail has succeeded does the task
//! switch to it (the point of no return). Then the initial stack is
//! written through copy_to_user, and the task leaves for user space at the
//! program's entry point.

use super::binfmt_elf::{create_elf_tables, load_elf_binary, setup_arg_pages, STACK_PAGES, STACK_TOP};
use super::initramfs;
use crate::mm::mm_types::MmStruct;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;

/// The environment every program starts with, as Linux's init gets it.
pub const DEFAULT_ENVP: [&str; 2] = ["HOME=/", "TERM=linux"];

/// Replaces the current kernel thread with the program at `path` (Linux:
/// kernel_execve). Returns only on failure, with the errno execve(2) would
/// give, and with the thread unchanged.
pub fn kernel_execve(path: &str, argv: &[&str], envp: &[&str]) -> Errno {
    match prepare(path) {
        Ok((mm, info)) => {
            // The point of no return (Linux: begin_new_exec).
            let me = crate::sched::current().expect("exec without a task");
            crate::sched::de_thread();
            exec_files(&me);
            let comm = path.rsplit('/').next().unwrap_or(path);
            me.set_comm(comm);
            crate::sched::exec_mmap(mm);
            let sp = match create_elf_tables(&info, info.stack_top, path, argv, envp) {
                Ok(sp) => sp,
                // Too late to return an error: the old image is gone. No
                // reference may stay on this stack: do_exit does not return.
                Err(_) => {
                    drop(me);
                    crate::sched::do_exit(crate::arch::exception::SIGSEGV)
                }
            };
            // Linux: mm->start_stack = bprm->p, where argc lies.
            if let Some(mm) = me.mm() {
                mm.mmap_lock.write().bounds.start_stack = sp;
            }
            let (_, stack_top) = me.stack_range().expect("a user task has a kernel stack");
            drop(me);
            // SAFETY: this task's kernel stack holds nothing we return to.
            unsafe { crate::arch::process::start_thread(info.start, sp, stack_top) }
        }
        Err(e) => e,
    }
}

/// The most argv or envp strings execve takes (Linux's limit is by total
/// size; create_elf_tables keeps 32 of each).
const MAX_ARG_STRINGS: usize = 32;
/// The longest argument string (Linux: MAX_ARG_STRLEN is 32 pages; a page
/// is plenty here).
const MAX_ARG_STRLEN: usize = 4096;

/// Copies a NULL-terminated array of user string pointers (Linux:
/// copy_strings). E2BIG past the limits, EFAULT on a bad pointer.
fn copy_strings(
    uptr: usize,
    out: &mut alloc::vec::Vec<alloc::string::String>,
) -> pagoda_klib::errno::KResult<()> {
    if uptr == 0 {
        return Ok(()); // Linux accepts a NULL argv or envp as empty
    }
    for i in 0.. {
        let mut p = [0u8; 8];
        crate::mm::uaccess::copy_from_user(&mut p, uptr.wrapping_add(i * 8))?;
        let s = usize::from_le_bytes(p);
        if s == 0 {
            return Ok(());
        }
        if i == MAX_ARG_STRINGS {
            return Err(Errno::E2BIG);
        }
        let mut buf = alloc::vec::Vec::new();
        buf.try_reserve_exact(MAX_ARG_STRLEN).map_err(|_| Errno::ENOMEM)?;
        buf.resize(MAX_ARG_STRLEN, 0);
        let n = crate::mm::uaccess::strncpy_from_user(&mut buf, s)?;
        if n == MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        buf.truncate(n);
        out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        out.push(alloc::string::String::from_utf8(buf).map_err(|_| Errno::EINVAL)?);
    }
    unreachable!()
}

/// execve(2) (Linux: fs/exec.c do_execve): the path, argv and envp come
/// from the caller's memory. Returns only on failure.
pub fn sys_execve(path: usize, argv: usize, envp: usize) -> pagoda_klib::errno::KResult<usize> {
    let mut name = alloc::vec::Vec::new();
    name.try_reserve_exact(MAX_ARG_STRLEN).map_err(|_| Errno::ENOMEM)?;
    name.resize(MAX_ARG_STRLEN, 0);
    let n = crate::mm::uaccess::strncpy_from_user(&mut name, path)?;
    if n == MAX_ARG_STRLEN {
        return Err(Errno::ENAMETOOLONG);
    }
    name.truncate(n);
    let path = alloc::string::String::from_utf8(name).map_err(|_| Errno::ENOENT)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let (mut args, mut envs) = (alloc::vec::Vec::new(), alloc::vec::Vec::new());
    copy_strings(argv, &mut args)?;
    copy_strings(envp, &mut envs)?;
    let argv: alloc::vec::Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let envp: alloc::vec::Vec<&str> = envs.iter().map(|s| s.as_str()).collect();
    let err = kernel_execve(&path, &argv, &envp);
    Err(err)
}

/// The descriptors across exec: a kernel thread's first exec gets the
/// console as 0, 1 and 2; a table still shared is copied (Linux:
/// unshare_files); close-on-exec descriptors close (do_close_on_exec).
fn exec_files(me: &crate::sched::TaskRef) {
    let files = me.files.lock().clone();
    if let Some(files) = files {
        if pagoda_klib::arc::Arc::count(&files) > 2 {
            if let Ok(copy) = files.dup() {
                *me.files.lock() = Some(copy);
            }
        }
    }
    if let Some(files) = me.files.lock().clone() {
        files.close_on_exec();
    }
}

/// Finds the program (Linux: open_exec): a regular file with an execute
/// bit, else EACCES.
fn open_exec(path: &str) -> KResult<super::inode::InodeRef> {
    let p = super::namei::path_lookup(&super::current_cwd()?, path, true)?;
    let inode = p.inode().clone();
    if inode.file_type() != super::inode::S_IFREG || inode.mode() & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(inode)
}

/// Everything that can fail: the file, the descriptors a first exec needs,
/// the new mm, its segments and stack.
fn prepare(path: &str) -> KResult<(crate::mm::mm_types::MmRef, super::binfmt_elf::ElfInfo)> {
    let inode = open_exec(path)?;
    super::init_files_and_fs()?;
    let super::inode::InodeKind::Reg(data) = &inode.kind else { return Err(Errno::EACCES) };
    // The program's bytes: the archive's own when the file was never
    // written (until exec maps files from the page cache, as Linux does).
    let data = data.contents()?;
    let mm = MmStruct::alloc()?;
    // On failure, dropping the mm frees what was mapped.
    mm.mmget();
    let info = load_elf_binary(&mm, &data, &inode, path).and_then(|mut info| {
        // Linux: randomize_stack_top, then arch_pick_mmap_layout and
        // arch_randomize_brk (mm/randomize.rs).
        let top = crate::mm::randomize::randomize_stack_top(STACK_TOP);
        info.stack_top = top;
        let rlim_stack = crate::sched::current()
            .map_or(8 << 20, |t| t.rlimit(crate::syscall::rlimit::RLIMIT_STACK).0 as usize);
        let mmap_base = crate::mm::mmap::mmap_base(rlim_stack, crate::mm::randomize::arch_mmap_rnd());
        if let Some((off, len)) = info.interp {
            // The dynamic linker, right below the signal trampoline's page
            // at mmap_base (Linux: load_elf_interp, top-down from there).
            let path = core::str::from_utf8(&data[off..off + len]).map_err(|_| Errno::ENOEXEC)?;
            let interp = open_exec(path)?;
            let super::inode::InodeKind::Reg(idata) = &interp.kind else { return Err(Errno::EACCES) };
            let idata = idata.contents()?;
            super::binfmt_elf::load_elf_interp(&mm, &idata, &interp, path, mmap_base - PAGE_SIZE, &mut info)?;
        }
        let stack = (top - STACK_PAGES * PAGE_SIZE, top);
        let brk = crate::mm::randomize::arch_randomize_brk(info.end);
        {
            let mut map = mm.mmap_lock.write();
            map.bounds = info.bounds;
            crate::mm::mmap::exec_vmas(&mut map, stack, brk, mmap_base)?;
            crate::mm::sigpage::install_sigpage(&mut map)?;
        }
        setup_arg_pages(&mm, top)?;
        Ok(info)
    });
    match info {
        Ok(info) => Ok((mm, info)),
        Err(e) => {
            mm.mmput();
            Err(e)
        }
    }
}

/// The command line `run` hands to its new process.
static RUN_LINE: crate::sync::SpinLockIrq<Option<alloc::string::String>> =
    crate::sync::SpinLockIrq::new(None);

/// The kernel thread `run` starts: it execs the program, or says why not.
fn run_thread(_: usize) {
    let Some(line) = RUN_LINE.lock().take() else { return };
    let mut argv = alloc::vec::Vec::new();
    argv.extend(line.split_whitespace());
    let Some(&path) = argv.first() else { return };
    let err = kernel_execve(path, &argv, &DEFAULT_ENVP);
    crate::kprintln!("run: {path}: {}", err.message());
    // A shell's status for a command it could not run.
    crate::sched::do_exit(127 << 8)
}

/// Starts `line` ("PATH ARGS...") as a new process and waits for it.
/// Returns its PID and wait status, or None if no task could be made.
pub fn run_program(line: &str) -> Option<(usize, i32)> {
    let t = start_program(line)?;
    let pid = t.pid();
    Some((pid, t.join()))
}

/// Starts `line` as a new process; returns once it has taken its command
/// line (so that the next `run` cannot overwrite it).
fn start_program(line: &str) -> Option<crate::sched::KThread> {
    *RUN_LINE.lock() = Some(alloc::string::String::from(line.trim()));
    match crate::sched::kthread_run("run", run_thread, 0, None) {
        Ok(t) => {
            while RUN_LINE.lock().is_some() {
                crate::sched::yield_now();
            }
            Some(t)
        }
        Err(e) => {
            RUN_LINE.lock().take();
            crate::kprintln!("run: cannot start a task: {e}");
            None
        }
    }
}

/// A wait status as a shell reports it.
fn describe_status(status: i32) -> (&'static str, i32) {
    match (status & 0x7f, (status >> 8) & 0xff) {
        (0, code) => ("exited with status", code),
        (sig, _) => ("killed by signal", sig),
    }
}

/// `run PATH ARGS`: starts a program from the initramfs as a new process
/// and waits for it, then shows its wait status as a shell would.
fn cmd_run(args: &str) {
    if args.trim().is_empty() {
        crate::kprintln!("usage: run PATH [ARGS...] [&]");
        return;
    }
    // `&`: in the background, as a shell does; the monitor goes on.
    if let Some(line) = args.trim().strip_suffix('&') {
        if let Some(t) = start_program(line) {
            crate::kprintln!("[{}] running in the background", t.pid());
        }
        return;
    }
    if let Some((pid, status)) = run_program(args) {
        let (what, n) = describe_status(status);
        crate::kprintln!("[{pid}] {what} {n}");
    }
}

/// Runs the first user program, if there is one: `init=PATH` from the
/// command line, else `/init` when the initramfs has it (Linux:
/// kernel_init -> run_init_process). Pagoda keeps PID 1 for its monitor, so
/// the program runs as PID 2 or later; when it exits, the kernel says how
/// and goes on to the monitor (Linux would panic: "Attempted to kill
/// init!").
#[cfg_attr(feature = "ktest", allow(dead_code))] // the test kernel runs tests instead
pub fn run_init_process(cmdline: &str) {
    let path = match pagoda_klib::cmdline::get(cmdline, "init") {
        Some(Some(p)) => p,
        _ if initramfs::exists("/init") => "/init",
        _ => return,
    };
    log::info!("Run {path} as init process");
    if let Some((_, status)) = run_program(path) {
        let (what, n) = describe_status(status);
        log::warn!("init ({path}) {what} {n}; back to the monitor");
    }
}

crate::monitor_cmd!(
    MON_RUN,
    "run",
    "run PATH [ARGS] [&]: run a program and wait for it (with &, do not wait)",
    cmd_run
);

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::page_alloc::mem_free_pages;
    use crate::sched::{kthread_join, kthread_run, reap};

    /// The programs the leak test runs, with their arguments and the wait
    /// status each ends with.
    const PROGRAMS: &[(&[&str], i32)] = &[
        (&["/bin/hello-raw"], 7 << 8),
        (&["/bin/hello-raw", "segv"], 11),
        (&["/bin/mmtest"], 0),
        (&["/bin/hello", "leak-check"], 0),
        (&["/bin/forktest"], 0),
        (&["/bin/pthreads"], 0),
        (&["/bin/files"], 0),
        (&["/bin/badargs"], 0),
        (&["/bin/madvise"], 0),
        (&["/bin/mremap"], 0),
        (&["/bin/overcommit"], 0),
        (&["/bin/forkloop", "1000"], 0),
        (&["/bin/shared"], 0),
        (&["/bin/filemap"], 0),
        (&["/bin/hello-dyn"], 0),
        // Runaway children killed by the OOM killer and emptied by the
        // oom_reaper: their memory comes back too.
        (&["/bin/oomkill"], 0),
    ];

    fn exec_program(i: usize) {
        let argv = PROGRAMS[i].0;
        let err = kernel_execve(argv[0], argv, &DEFAULT_ENVP);
        panic!("exec failed: {err}");
    }

    fn leave(_: usize) {
        crate::sched::leave_mm();
    }

    /// What a leak would change: the pages free, in the slab allocator or
    /// in a page cache (a page leaked elsewhere lowers it), and the live
    /// slab objects. Slab pages are not counted as such: where the live
    /// objects sit (one slab or two) depends on the order of frees and
    /// allocations on each CPU, so the same objects may take a different
    /// number of pages after a run. Page-cache pages are not counted as
    /// such either: a program's file pages stay cached after it exits, as
    /// on Linux, and a run may touch a code page the last one did not; a
    /// leaked file (a shared mapping's) would show as a leaked inode.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    struct Footprint {
        free_slab_or_cached_pages: usize,
        slab_objects: usize,
        /// Committed_AS: every commitment is given back.
        committed: usize,
        /// Address spaces freed with an rss counter off zero.
        bad_rss: usize,
        /// meminfo's AnonPages and Mapped: every page unmapped.
        anon_mapped: usize,
        file_mapped: usize,
        /// meminfo's PageTables: every user table freed.
        page_tables: usize,
    }

    /// Lets every CPU drop the mm it keeps loaded lazily, reaps dead tasks,
    /// returns empty slabs, and measures what is in use.
    fn settle() -> Footprint {
        for cpu in 0..crate::kernel::percpu::num_online_cpus() {
            kthread_join(kthread_run("ktest-leave-mm", leave, 0, Some(cpu)).unwrap());
        }
        reap();
        // Pages in per-CPU LRU batches are referenced by the batch.
        crate::mm::swap::lru_add_drain_all();
        crate::mm::slab::shrink_all();
        crate::mm::page_alloc::page_allocator().drain_all_pages();
        let (reclaimable, unreclaimable) = crate::mm::slab::slab_bytes();
        let slab_pages = (reclaimable + unreclaimable) / PAGE_SIZE;
        use pagoda_mm::vmstat::NodeStatItem;
        let node = crate::mm::page_alloc::global_node_page_state;
        Footprint {
            free_slab_or_cached_pages: mem_free_pages() + slab_pages + node(NodeStatItem::NrFilePages),
            slab_objects: crate::mm::slab::caches().map(|c| c.info().active_objs).sum(),
            committed: crate::mm::util::committed_as(),
            bad_rss: crate::mm::mm_types::BAD_RSS_COUNTER.load(core::sync::atomic::Ordering::Relaxed),
            anon_mapped: node(NodeStatItem::NrAnonMapped),
            file_mapped: node(NodeStatItem::NrFileMapped),
            page_tables: node(NodeStatItem::NrPagetable),
        }
    }

    /// User processes run to exit_group(7), die of SIGSEGV, exercise brk,
    /// mmap, munmap, mprotect and stack growth, start glibc, and fork
    /// children that share pages copy on write; after each, every page it
    /// had (image, faulted and copied pages, stack, page tables, kernel
    /// stacks) is free again.
    #[ktest]
    fn user_processes_exit_and_leave_no_page_behind() {
        if !initramfs::exists("/bin/hello-raw") {
            return; // booted without the initramfs
        }
        // Two passes: in the first, kernel vectors (vmap areas, run queues)
        // may still reach new high-water marks and keep their capacity;
        // in the second every program must give back exactly what it took.
        for pass in 0..2 {
            for (i, &(argv, status)) in PROGRAMS.iter().enumerate() {
                let before = settle();
                assert_eq!(kthread_join(kthread_run("ktest-exec", exec_program, i, None).unwrap()), status);
                let after = settle();
                if pass == 1 {
                    assert_eq!(after, before, "{argv:?} leaked");
                }
            }
        }
    }

    fn exec_fpcheck(seed: usize) {
        let seed = alloc::format!("{seed}");
        let err = kernel_execve("/bin/fpcheck", &["/bin/fpcheck", &seed], &DEFAULT_ENVP);
        panic!("exec failed: {err}");
    }

    /// Two user tasks on one CPU fill all 32 FP/SIMD registers with
    /// different values and spin through many preemptions: each finds its
    /// own values every time, so every switch saved and restored them; and
    /// both finished, so neither spinning task kept the other from running.
    #[ktest]
    fn fp_registers_survive_preemption_between_user_tasks() {
        if !initramfs::exists("/bin/fpcheck") {
            return; // booted without the initramfs
        }
        let cpu = crate::kernel::percpu::num_online_cpus() - 1;
        let a = crate::sched::kthread_create("ktest-fp-a", exec_fpcheck, 1, Some(cpu)).unwrap();
        let b = crate::sched::kthread_create("ktest-fp-b", exec_fpcheck, 2, Some(cpu)).unwrap();
        a.start();
        b.start();
        assert_eq!(kthread_join(a), 0, "task A saw corrupted FP/SIMD registers");
        assert_eq!(kthread_join(b), 0, "task B saw corrupted FP/SIMD registers");
    }

    /// Bad executables fail with the errno execve gives and change nothing.
    #[ktest]
    fn bad_executables_fail_cleanly() {
        use crate::fs::binfmt_elf::load_elf_binary;
        assert_eq!(prepare("/nope").err(), Some(Errno::ENOENT));
        let Ok(hello) = crate::fs::namei::kern_path("/bin/hello-raw") else {
            return; // booted without the initramfs
        };
        let crate::fs::inode::InodeKind::Reg(data) = &hello.inode().kind else { panic!("not a file") };
        let hello_data = data.contents().unwrap();
        assert_eq!(prepare("/etc").err(), Some(Errno::EACCES));
        assert_eq!(prepare("/etc/motd").err(), Some(Errno::EACCES), "not executable");
        let mm = MmStruct::alloc().unwrap();
        mm.mmget();
        assert_eq!(
            load_elf_binary(&mm, b"#!/bin/sh\n", hello.inode(), "/bin/hello-raw").err(),
            Some(Errno::ENOEXEC)
        );
        assert_eq!(
            load_elf_binary(&mm, &hello_data[..64], hello.inode(), "/bin/hello-raw").err(),
            Some(Errno::ENOEXEC),
            "headers cut"
        );
        let mut bad = hello_data.to_vec();
        bad[18] = 62; // e_machine = EM_X86_64
        assert_eq!(load_elf_binary(&mm, &bad, hello.inode(), "/bin/hello-raw").err(), Some(Errno::ENOEXEC));
        // A segment claiming more file bytes than the file has.
        let cut = &hello_data[..hello_data.len() / 2];
        assert_eq!(load_elf_binary(&mm, cut, hello.inode(), "/bin/hello-raw").err(), Some(Errno::ENOEXEC));
        mm.mmput();
    }
}
