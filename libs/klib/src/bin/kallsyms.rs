//! Build tool, modelled on scripts/kallsyms.c: reads `nm -n -C vmlinux`
//! output on stdin and writes the symbol table into the `.kallsyms` hole of
//! the flat Image.
//!
//! Usage: kallsyms IMAGE TEXT_ADDR KALLSYMS_START KALLSYMS_END < nm-output
//! (the three addresses in hex, from the same nm output).

use pagoda_klib::kallsyms::{encode, strip_rust_hash};
use std::io::Read;

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| {
        eprintln!("kallsyms: bad address {s}");
        std::process::exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: kallsyms IMAGE TEXT_ADDR KALLSYMS_START KALLSYMS_END < nm-output");
        std::process::exit(2);
    }
    let (text, start, end) = (hex(&args[2]), hex(&args[3]), hex(&args[4]));
    let mut nm = String::new();
    std::io::stdin().read_to_string(&mut nm).expect("reading nm output");
    let syms: Vec<(u64, String)> = nm
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ' ');
            let (addr, kind, name) = (it.next()?, it.next()?, it.next()?);
            // Code symbols only: the call trace names return addresses.
            matches!(kind, "T" | "t" | "W" | "w")
                .then(|| (u64::from_str_radix(addr, 16).ok(), strip_rust_hash(name).to_string()))
                .and_then(|(a, n)| Some((a?, n)))
        })
        .collect();
    let mut blob = encode(syms);
    let room = (end - start) as usize;
    if blob.len() > room {
        eprintln!(
            "kallsyms: table is {} bytes, only {room} reserved; enlarge .kallsyms in linker.ld",
            blob.len()
        );
        std::process::exit(1);
    }
    let mut image = std::fs::read(&args[1]).expect("reading Image");
    let off = (start - text) as usize;
    if off + room > image.len() {
        eprintln!("kallsyms: .kallsyms lies outside the Image file");
        std::process::exit(1);
    }
    blob.resize(room, 0);
    image[off..off + room].copy_from_slice(&blob);
    std::fs::write(&args[1], image).expect("writing Image");
}
