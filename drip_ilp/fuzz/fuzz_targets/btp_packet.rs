//! BTP: any bytes decode to a packet or a typed error; a packet re-encodes
//! to bytes that decode to the same packet.
#![no_main]
use drip_ilp::btp::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::decode(data) {
        assert_eq!(Packet::decode(&p.encode()), Ok(p));
    }
});
