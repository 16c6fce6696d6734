//! Network math in plain Rust (no engine): CIDR parsing and Terraform-style
//! `cidrsubnet` / `cidrhost`.
pub mod cidr;
