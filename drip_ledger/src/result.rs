//! What a transaction result code (rippled's TER: `tesSUCCESS`,
//! `tecNO_TARGET`, `telINSUF_FEE_P`, ...) says about a transaction. Its
//! class, the code's first three letters, decides; drip reads no code's
//! number, and treats the classes as rippled documents them (`TER.h`).

/// How a transaction that got a result code must be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultClass {
    /// `tes`: applied; final once in a validated ledger.
    Applied,
    /// `tec`: applied only to claim the fee (and use the sequence); it did
    /// nothing else, and that is final once in a validated ledger.
    ClaimedFee,
    /// `tem`: malformed; it cannot succeed in any ledger, and signing the
    /// same fields again cannot help.
    NeverApplies,
    /// `tef`, `tel`, `ter`, and any code drip does not know: not applied by
    /// this answer, but the intent may still succeed. rippled holds `ter`
    /// and may apply it in a later ledger, a `tel` is one server's local
    /// refusal, and a `tef` ledger state may change; so the transaction is
    /// followed to its LastLedgerSequence, and signed again only once it
    /// provably never applied.
    Retry,
}

impl ResultClass {
    /// The class of `code`.
    pub fn of(code: &str) -> ResultClass {
        match code.get(..3) {
            Some("tes") => ResultClass::Applied,
            Some("tec") => ResultClass::ClaimedFee,
            Some("tem") => ResultClass::NeverApplies,
            _ => ResultClass::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes of each class as rippled names them (`TER.h`), with the
    /// treatment its comments give the class.
    #[test]
    fn classes_follow_rippled() {
        let cases = [
            // tes: "Applied", the only one.
            ("tesSUCCESS", ResultClass::Applied),
            // tec: "Claim fee only", "Applied".
            ("tecCLAIM", ResultClass::ClaimedFee),
            ("tecUNFUNDED_PAYMENT", ResultClass::ClaimedFee),
            ("tecNO_TARGET", ResultClass::ClaimedFee),
            ("tecNO_PERMISSION", ResultClass::ClaimedFee),
            ("tecEXPIRED", ResultClass::ClaimedFee),
            // tem: "Malformed", "Cannot succeed in any imagined ledger".
            ("temMALFORMED", ResultClass::NeverApplies),
            ("temBAD_AMOUNT", ResultClass::NeverApplies),
            ("temBAD_SIGNATURE", ResultClass::NeverApplies),
            ("temBAD_SEQUENCE", ResultClass::NeverApplies),
            // tef: "Not applied", "Could succeed in an imagined ledger".
            ("tefFAILURE", ResultClass::Retry),
            ("tefPAST_SEQ", ResultClass::Retry),
            ("tefMAX_LEDGER", ResultClass::Retry),
            ("tefALREADY", ResultClass::Retry),
            // tel: "Local error", "Not forwarded".
            ("telINSUF_FEE_P", ResultClass::Retry),
            ("telCAN_NOT_QUEUE", ResultClass::Retry),
            // ter: "Retry", "Might succeed later", "Hold".
            ("terQUEUED", ResultClass::Retry),
            ("terPRE_SEQ", ResultClass::Retry),
            ("terNO_ACCOUNT", ResultClass::Retry),
        ];
        for (code, class) in cases {
            assert_eq!(ResultClass::of(code), class, "{code}");
        }
    }

    #[test]
    fn an_unknown_code_is_never_given_up() {
        for code in ["", "te", "expired", "TESSUCCESS", "é€€"] {
            assert_eq!(ResultClass::of(code), ResultClass::Retry, "{code}");
        }
    }
}
