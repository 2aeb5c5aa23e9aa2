//! IL-DCP: any Fulfill data reads as a config or a typed error, and a config
//! answers with data that reads back the same.
#![no_main]
use drip_ilp::ildcp::Config;
use drip_ilp::ilp::Fulfill;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = Fulfill { fulfillment: [0; 32], data: data.to_vec() };
    if let Ok(c) = Config::from_response(&f) {
        assert_eq!(Config::from_response(&c.response()), Ok(c));
    }
});
