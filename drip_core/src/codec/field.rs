//! The field definitions drip reads and writes: rippled's `SField` table
//! (`definitions.json` in the client libraries) for the fields of the
//! transactions and ledger entries drip deals with.
//!
//! A test checks every row against the reference library's definitions.

/// A serialized type (rippled `STI_*`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum TypeCode {
    /// 16-bit unsigned integer.
    UInt16 = 1,
    /// 32-bit unsigned integer.
    UInt32 = 2,
    /// 64-bit unsigned integer.
    UInt64 = 3,
    /// 128-bit hash.
    Hash128 = 4,
    /// 256-bit hash.
    Hash256 = 5,
    /// XRP or issued-currency amount.
    Amount = 6,
    /// Length-prefixed bytes.
    Blob = 7,
    /// Length-prefixed 20-byte account id.
    AccountId = 8,
    /// Nested object, ended by 0xE1.
    Object = 14,
    /// Array of objects, ended by 0xF1.
    Array = 15,
    /// 8-bit unsigned integer.
    UInt8 = 16,
    /// 160-bit hash.
    Hash160 = 17,
}

impl TypeCode {
    /// The type for a type code, if it is one drip reads.
    pub fn from_code(code: u8) -> Option<Self> {
        use TypeCode::*;
        Some(match code {
            1 => UInt16,
            2 => UInt32,
            3 => UInt64,
            4 => Hash128,
            5 => Hash256,
            6 => Amount,
            7 => Blob,
            8 => AccountId,
            14 => Object,
            15 => Array,
            16 => UInt8,
            17 => Hash160,
            _ => return None,
        })
    }
}

/// One field definition.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name in JSON.
    pub name: &'static str,
    /// Its serialized type.
    pub type_code: TypeCode,
    /// Its number within the type (`nth`).
    pub nth: u8,
    /// Whether it is covered by a signature (`isSigningField`).
    pub signing: bool,
}

impl Field {
    /// Canonical order: by type code, then field number.
    pub fn sort_key(&self) -> (u8, u8) {
        (self.type_code as u8, self.nth)
    }
}

macro_rules! fields {
    ($($name:ident: $ty:ident $nth:literal $($nosign:ident)?;)*) => {
        /// Every field drip knows, in canonical order.
        pub static FIELDS: &[Field] = &[
            $(Field {
                name: stringify!($name),
                type_code: TypeCode::$ty,
                nth: $nth,
                signing: fields!(@signing $($nosign)?),
            },)*
        ];
    };
    (@signing) => { true };
    (@signing nosign) => { false };
}

fields! {
    LedgerEntryType: UInt16 1;
    TransactionType: UInt16 2;
    SignerWeight: UInt16 3;
    NetworkID: UInt32 1;
    Flags: UInt32 2;
    SourceTag: UInt32 3;
    Sequence: UInt32 4;
    PreviousTxnLgrSeq: UInt32 5;
    LedgerSequence: UInt32 6;
    CloseTime: UInt32 7;
    ParentCloseTime: UInt32 8;
    SigningTime: UInt32 9;
    Expiration: UInt32 10;
    TransferRate: UInt32 11;
    WalletSize: UInt32 12;
    OwnerCount: UInt32 13;
    DestinationTag: UInt32 14;
    LastUpdateTime: UInt32 15;
    HighQualityIn: UInt32 16;
    HighQualityOut: UInt32 17;
    LowQualityIn: UInt32 18;
    LowQualityOut: UInt32 19;
    QualityIn: UInt32 20;
    QualityOut: UInt32 21;
    StampEscrow: UInt32 22;
    BondAmount: UInt32 23;
    LoadFee: UInt32 24;
    OfferSequence: UInt32 25;
    FirstLedgerSequence: UInt32 26;
    LastLedgerSequence: UInt32 27;
    TransactionIndex: UInt32 28;
    OperationLimit: UInt32 29;
    ReferenceFeeUnits: UInt32 30;
    ReserveBase: UInt32 31;
    ReserveIncrement: UInt32 32;
    SetFlag: UInt32 33;
    ClearFlag: UInt32 34;
    SignerQuorum: UInt32 35;
    CancelAfter: UInt32 36;
    FinishAfter: UInt32 37;
    SignerListID: UInt32 38;
    SettleDelay: UInt32 39;
    TicketCount: UInt32 40;
    TicketSequence: UInt32 41;
    IndexNext: UInt64 1;
    IndexPrevious: UInt64 2;
    BookNode: UInt64 3;
    OwnerNode: UInt64 4;
    BaseFee: UInt64 5;
    ExchangeRate: UInt64 6;
    LowNode: UInt64 7;
    HighNode: UInt64 8;
    DestinationNode: UInt64 9;
    EmailHash: Hash128 1;
    LedgerHash: Hash256 1;
    ParentHash: Hash256 2;
    TransactionHash: Hash256 3;
    AccountHash: Hash256 4;
    PreviousTxnID: Hash256 5;
    LedgerIndex: Hash256 6;
    WalletLocator: Hash256 7;
    RootIndex: Hash256 8;
    AccountTxnID: Hash256 9;
    BookDirectory: Hash256 16;
    InvoiceID: Hash256 17;
    Nickname: Hash256 18;
    Amendment: Hash256 19;
    Digest: Hash256 21;
    Channel: Hash256 22;
    ConsensusHash: Hash256 23;
    CheckID: Hash256 24;
    ValidatedHash: Hash256 25;
    Amount: Amount 1;
    Balance: Amount 2;
    LimitAmount: Amount 3;
    TakerPays: Amount 4;
    TakerGets: Amount 5;
    LowLimit: Amount 6;
    HighLimit: Amount 7;
    Fee: Amount 8;
    SendMax: Amount 9;
    DeliverMin: Amount 10;
    PublicKey: Blob 1;
    MessageKey: Blob 2;
    SigningPubKey: Blob 3;
    TxnSignature: Blob 4 nosign;
    URI: Blob 5;
    Signature: Blob 6 nosign;
    Domain: Blob 7;
    FundCode: Blob 8;
    RemoveCode: Blob 9;
    ExpireCode: Blob 10;
    CreateCode: Blob 11;
    MemoType: Blob 12;
    MemoData: Blob 13;
    MemoFormat: Blob 14;
    Account: AccountId 1;
    Owner: AccountId 2;
    Destination: AccountId 3;
    Issuer: AccountId 4;
    Authorize: AccountId 5;
    Unauthorize: AccountId 6;
    RegularKey: AccountId 8;
    TransactionMetaData: Object 2;
    CreatedNode: Object 3;
    DeletedNode: Object 4;
    ModifiedNode: Object 5;
    PreviousFields: Object 6;
    FinalFields: Object 7;
    NewFields: Object 8;
    TemplateEntry: Object 9;
    Memo: Object 10;
    SignerEntry: Object 11;
    Signer: Object 16;
    Majority: Object 18;
    Signers: Array 3 nosign;
    SignerEntries: Array 4;
    Template: Array 5;
    Necessary: Array 6;
    Sufficient: Array 7;
    AffectedNodes: Array 8;
    Memos: Array 9;
    Majorities: Array 16;
    CloseResolution: UInt8 1;
    Method: UInt8 2;
    TransactionResult: UInt8 3;
    TickSize: UInt8 16;
    TakerPaysCurrency: Hash160 1;
    TakerPaysIssuer: Hash160 2;
    TakerGetsCurrency: Hash160 3;
    TakerGetsIssuer: Hash160 4;
}

/// The field with this type code and number.
pub fn by_id(type_code: u8, nth: u8) -> Option<&'static Field> {
    FIELDS
        .binary_search_by_key(&(type_code, nth), Field::sort_key)
        .ok()
        .and_then(|i| FIELDS.get(i))
}

/// The field with this JSON name.
pub fn by_name(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// Transaction types drip knows (rippled `TxFormats`), name ↔ code.
pub static TRANSACTION_TYPES: &[(&str, u16)] = &[
    ("Payment", 0),
    ("EscrowCreate", 1),
    ("EscrowFinish", 2),
    ("AccountSet", 3),
    ("EscrowCancel", 4),
    ("SetRegularKey", 5),
    ("OfferCreate", 7),
    ("OfferCancel", 8),
    ("TicketCreate", 10),
    ("SignerListSet", 12),
    ("PaymentChannelCreate", 13),
    ("PaymentChannelFund", 14),
    ("PaymentChannelClaim", 15),
    ("CheckCreate", 16),
    ("CheckCash", 17),
    ("CheckCancel", 18),
    ("DepositPreauth", 19),
    ("TrustSet", 20),
    ("AccountDelete", 21),
];

/// Ledger entry types drip knows (rippled `LedgerFormats`), name ↔ code.
pub static LEDGER_ENTRY_TYPES: &[(&str, u16)] = &[
    ("AccountRoot", 0x0061),
    ("DirectoryNode", 0x0064),
    ("RippleState", 0x0072),
    ("Ticket", 0x0054),
    ("SignerList", 0x0053),
    ("Offer", 0x006f),
    ("LedgerHashes", 0x0068),
    ("Amendments", 0x0066),
    ("FeeSettings", 0x0073),
    ("Escrow", 0x0075),
    ("PayChannel", 0x0078),
    ("Check", 0x0043),
    ("DepositPreauth", 0x0070),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in FIELDS.windows(2) {
            assert!(pair[0].sort_key() < pair[1].sort_key(), "{:?}", pair[1]);
        }
        for f in FIELDS {
            assert_eq!(by_id(f.type_code as u8, f.nth), Some(f));
            assert_eq!(by_name(f.name), Some(f));
        }
    }
}
