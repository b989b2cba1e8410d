//! What the API client and the network probes share: text made safe to print and credentials
//! kept out of it ([`text`]), files the operator names read with a size limit ([`file`]), TLS
//! roots and verifiers ([`tls`]), name resolution ([`resolve`]), and the one classifier of
//! request failures ([`failure`]).

pub mod failure;
pub mod file;
pub mod resolve;
pub mod text;
pub mod tls;
