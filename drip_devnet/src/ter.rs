//! rippled's transaction result codes (`TER.h`, `TER.cpp`): the ones the
//! devnet produces, with rippled's numbers and messages.

use std::fmt;

macro_rules! ters {
    ($($name:ident = $code:literal, $msg:literal;)*) => {
        /// A transaction engine result.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum Ter {
            $(
                #[doc = $msg]
                $name,
            )*
        }

        impl Ter {
            /// rippled's numeric code.
            pub fn code(self) -> i32 {
                match self { $(Ter::$name => $code,)* }
            }

            /// rippled's token, e.g. `tesSUCCESS`.
            pub fn token(self) -> &'static str {
                match self { $(Ter::$name => stringify!($name),)* }
            }

            /// rippled's human-readable message.
            pub fn message(self) -> &'static str {
                match self { $(Ter::$name => $msg,)* }
            }

            /// The result with this token.
            pub fn from_token(token: &str) -> Option<Ter> {
                match token { $(stringify!($name) => Some(Ter::$name),)* _ => None }
            }
        }
    };
}

ters! {
    tesSUCCESS = 0, "The transaction was applied. Only final in a validated ledger.";
    tecUNFUNDED_PAYMENT = 104, "Insufficient XRP balance to send.";
    tecNO_DST = 124, "Destination does not exist. Send XRP to create it.";
    tecNO_DST_INSUF_XRP = 125, "Destination does not exist. Too little XRP sent to create it.";
    tecUNFUNDED = 129, "Not enough XRP to satisfy the reserve requirement.";
    tecNO_TARGET = 138, "Target account does not exist.";
    tecNO_PERMISSION = 139, "No permission to perform requested operation.";
    tecNO_ENTRY = 140, "No matching entry found.";
    tecINSUFFICIENT_RESERVE = 141, "Insufficient reserve to complete requested operation.";
    tecDST_TAG_NEEDED = 143, "A destination tag is required.";
    tecEXPIRED = 148, "Expiration time is passed.";
    temMALFORMED = -299, "Malformed transaction.";
    temBAD_AMOUNT = -298, "Malformed: Bad amount.";
    temBAD_EXPIRATION = -296, "Malformed: Bad expiration.";
    temBAD_FEE = -295, "Invalid fee, negative or not XRP.";
    temBAD_SEQUENCE = -283, "Malformed: Sequence is not in the past.";
    temBAD_SIGNATURE = -282, "Malformed: Bad signature.";
    temDST_IS_SRC = -279, "Destination may not be source.";
    temDST_NEEDED = -278, "Destination not specified.";
    temINVALID = -277, "The transaction is ill-formed.";
    temINVALID_FLAG = -276, "The transaction has an invalid flag.";
    temREDUNDANT = -275, "The transaction is redundant.";
    temBAD_SIGNER = -272, "Malformed: No signer may duplicate account or other signers.";
    temDISABLED = -273, "The transaction requires logic that is currently disabled.";
    temUNKNOWN = -264, "The transaction requires logic that is not implemented yet.";
    tefFAILURE = -199, "Failed to apply.";
    tefBAD_AUTH = -196, "Transaction's public key is not authorized.";
    tefPAST_SEQ = -190, "This sequence number has already passed.";
    tefMAX_LEDGER = -187, "Ledger sequence too high.";
    terINSUF_FEE_B = -97, "Account balance can't pay fee.";
    terNO_ACCOUNT = -96, "The source account does not exist.";
    terPRE_SEQ = -92, "Missing/inapplicable prior transaction.";
    terQUEUED = -89, "Held until escalated fee drops.";
    telINSUF_FEE_P = -394, "Fee insufficient.";
}

impl Ter {
    /// tes and tec results are applied: the fee is charged and the sequence
    /// used; every other class changes nothing.
    pub fn is_applied(self) -> bool {
        self.code() >= 0
    }

    /// The result's class prefix: `tes`, `tec`, `tem`, `tef`, `ter` or `tel`.
    pub fn class(self) -> &'static str {
        self.token().get(..3).unwrap_or("")
    }
}

impl fmt::Display for Ter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_codes() {
        for ter in [Ter::tesSUCCESS, Ter::tecNO_TARGET, Ter::tecEXPIRED] {
            assert!(ter.is_applied(), "{ter}");
        }
        for ter in [
            Ter::temBAD_AMOUNT,
            Ter::tefPAST_SEQ,
            Ter::terPRE_SEQ,
            Ter::telINSUF_FEE_P,
        ] {
            assert!(!ter.is_applied(), "{ter}");
        }
        assert_eq!(Ter::from_token("tecNO_ENTRY"), Some(Ter::tecNO_ENTRY));
        assert_eq!(Ter::tecUNFUNDED_PAYMENT.code(), 104);
        assert_eq!(Ter::temBAD_SIGNATURE.class(), "tem");
    }
}
