//! The kernel image's section boundaries, from linker.ld (Linux:
//! include/asm-generic/sections.h). Each function returns the symbol's
//! kernel-image virtual address.

extern "C" {
    static _text: u8;
    static _etext: u8;
    static __start_rodata: u8;
    static __end_rodata: u8;
    static _sdata: u8;
    static _edata: u8;
    static __bss_start: u8;
    static _end: u8;
}

macro_rules! section_symbol {
    ($($(#[$doc:meta])* $name:ident => $sym:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name() -> usize {
                &raw const $sym as usize
            }
        )*
    };
}

section_symbol! {
    /// Start of the image and of .text.
    text => _text;
    /// End of .text.
    etext => _etext;
    start_rodata => __start_rodata;
    end_rodata => __end_rodata;
    /// Start of .data (and of everything writable).
    sdata => _sdata;
    edata => _edata;
    bss_start => __bss_start;
    /// End of the image (of .bss).
    end => _end;
}
