//! `#[ktest]` registers an in-kernel test, in the style of `#[test]`.
//!
//! ```ignore
//! #[ktest]
//! fn buddy_merges() { ... }
//!
//! #[ktest(should_fault)]      // passes only if the body faults or panics
//! fn write_to_rodata_faults() { ... }
//! ```
//!
//! Each test becomes a `KTest` static in the `.ktests` linker section
//! (see linker.ld), which the test kernel walks. This works on stable Rust,
//! unlike `custom_test_frameworks`. Outside the `ktest` feature of the kernel
//! the test and its static are compiled out.
use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, ItemFn};

#[proc_macro_attribute]
pub fn ktest(attr: TokenStream, item: TokenStream) -> TokenStream {
    let should_fault = match attr.to_string().trim() {
        "" => false,
        "should_fault" => true,
        other => {
            return syn::Error::new(
                proc_macro2::Span::call_site(),
                format!("unknown ktest option `{other}`; the only option is `should_fault`"),
            )
            .to_compile_error()
            .into()
        }
    };
    let func = parse_macro_input!(item as ItemFn);
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let static_name = format_ident!("__KTEST_{}", name_str.to_uppercase());
    quote! {
        #[cfg(feature = "ktest")]
        #func

        #[cfg(feature = "ktest")]
        #[used]
        #[link_section = ".ktests"]
        static #static_name: crate::debug::ktest::KTest = crate::debug::ktest::KTest {
            name: #name_str,
            module: module_path!(),
            func: #name,
            should_fault: #should_fault,
        };
    }
    .into()
}
