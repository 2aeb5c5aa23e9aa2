//! gRPC services, one file each.

pub mod drip;
