//! What the API client and the network probes share: text made safe to print and credentials
//! kept out of it ([`text`]), and files the operator names read with a size limit ([`file`]).
//! TLS roots and verifiers and the resolver move here from probe/http.rs and probe/tcp.rs as the
//! layout in DESIGN.md ("How it works") is reached.

pub mod file;
pub mod text;
