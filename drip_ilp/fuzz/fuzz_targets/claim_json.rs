//! The asymmetric plugin's inputs from the network: claim JSON and ILP
//! addresses read the way Node reads base64 never panic.
#![no_main]
use drip_ilp::asym::{self, ClaimJson};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ClaimJson>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let decoded = asym::node_base64_decode(s);
        assert!(decoded.len() <= s.len());
        if let Ok(amount) = s.parse::<u64>() {
            for scale in 0..=20 {
                let _ = asym::base_to_drops(amount, scale);
            }
        }
    }
});
