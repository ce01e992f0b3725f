//! [`Table`] on DynamoDB: one table, `gsi1`/`gsi2`, TTL on `ttl`.
//!
//! Attributes: `pk`, `sk`, `gsi1pk`/`gsi1sk`, `gsi2pk`/`gsi2sk`, `ttl` (N),
//! `version` (N), `n` (N, counters) and `data` (S: the document's JSON text).
//! The document is kept as JSON text rather than a native map because DynamoDB
//! normalises numbers (`1.0` comes back as `1`) and refuses some shapes (empty
//! sets, over-deep nesting); text round-trips exactly and parses in one step.
//!
//! DynamoDB's TTL sweeper is lazy (it may take days), so every read and every
//! "must not exist" condition treats `ttl <= now` as absent itself.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, ReturnValue, TransactWriteItem, Update,
};

use super::backend;
use crate::store::{
    Condition, Cursor, Index, IndexKey, Item, MAX_TRANSACTION_WRITES, Page, Query, SortKey,
    StoreError, StoreResult, Table, Write, document_text,
};

type Attrs = HashMap<String, AttributeValue>;

/// The DynamoDB item table.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    name: String,
}

impl DynamoTable {
    /// The table `name` through `client`.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> Attrs {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// Names and values of one expression, with placeholders for every attribute
/// (`data`, `ttl` and others are DynamoDB reserved words).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: Attrs,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    /// `Some(map)` unless empty (DynamoDB rejects empty maps).
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<Attrs> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// "The item is live": no TTL, or a TTL still in the future.
    fn live(&mut self, now: i64) -> String {
        let ttl = self.name("ttl");
        let now = self.value(n(now));
        format!("(attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    /// The condition expression of `condition` (`None` for none).
    fn condition(&mut self, condition: Condition, now: i64) -> Option<String> {
        match condition {
            Condition::None => None,
            Condition::MustNotExist => {
                let pk = self.name("pk");
                let ttl = self.name("ttl");
                let now = self.value(n(now));
                Some(format!("attribute_not_exists({pk}) OR {ttl} <= {now}"))
            }
            Condition::MustExist => {
                let pk = self.name("pk");
                let live = self.live(now);
                Some(format!("attribute_exists({pk}) AND {live}"))
            }
            Condition::VersionEquals(v) => {
                let version = self.name("version");
                let v = self.value(n(v));
                let live = self.live(now);
                Some(format!("{version} = {v} AND {live}"))
            }
        }
    }
}

/// The update that stores `item` whole under `condition` (an UpdateItem, so the
/// new version can be derived from the stored one in the same request).
struct PutUpdate {
    key: Attrs,
    update: String,
    condition: Option<String>,
    expr: Expr,
}

fn put_update(item: &Item, condition: Condition, now: i64) -> StoreResult<PutUpdate> {
    let data = document_text(item)?;
    let mut e = Expr::default();
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let version = e.name("version");
    let new_version = match condition {
        Condition::MustNotExist => e.value(n(1)),
        Condition::VersionEquals(v) => e.value(n(v + 1)),
        Condition::None | Condition::MustExist => {
            let zero = e.value(n(0));
            let one = e.value(n(1));
            format!("if_not_exists({version}, {zero}) + {one}")
        }
    };
    set.push(format!("{version} = {new_version}"));
    let d = e.name("data");
    let dv = e.value(s(data));
    set.push(format!("{d} = {dv}"));
    for (prefix, pair) in [("gsi1", &item.gsi1), ("gsi2", &item.gsi2)] {
        let pk = e.name(&format!("{prefix}pk"));
        let sk = e.name(&format!("{prefix}sk"));
        match pair {
            Some(k) => {
                let pv = e.value(s(&k.pk));
                let sv = e.value(s(&k.sk));
                set.push(format!("{pk} = {pv}"));
                set.push(format!("{sk} = {sv}"));
            }
            None => {
                remove.push(pk);
                remove.push(sk);
            }
        }
    }
    let ttl = e.name("ttl");
    match item.ttl {
        Some(t) => {
            let tv = e.value(n(t));
            set.push(format!("{ttl} = {tv}"));
        }
        None => remove.push(ttl),
    }
    // A put replaces the whole item: a counter value does not survive it.
    remove.push(e.name("n"));
    let update = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
    let condition = e.condition(condition, now);
    Ok(PutUpdate {
        key: key(&item.pk, &item.sk),
        update,
        condition,
        expr: e,
    })
}

fn string(attrs: &Attrs, name: &str) -> Option<String> {
    match attrs.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn number(attrs: &Attrs, name: &str) -> Option<i64> {
    match attrs.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn is_live(attrs: &Attrs, now: i64) -> bool {
    number(attrs, "ttl").is_none_or(|t| t > now)
}

/// The key condition (` AND …`) of a sort-key range on `sk_attr`.
fn sort_key_condition(e: &mut Expr, sk_attr: &str, sk: &SortKey) -> String {
    if *sk == SortKey::All {
        return String::new();
    }
    let ksk = e.name(sk_attr);
    match sk {
        SortKey::All => String::new(),
        SortKey::Prefix(p) => format!(" AND begins_with({ksk}, {})", e.value(s(p))),
        SortKey::Between(a, b) => {
            let av = e.value(s(a));
            let bv = e.value(s(b));
            format!(" AND {ksk} BETWEEN {av} AND {bv}")
        }
        SortKey::From(a) => format!(" AND {ksk} >= {}", e.value(s(a))),
        SortKey::To(b) => format!(" AND {ksk} <= {}", e.value(s(b))),
    }
}

fn to_item(attrs: &Attrs) -> StoreResult<Item> {
    let pk = string(attrs, "pk").ok_or_else(|| StoreError::Backend("item without pk".into()))?;
    let sk = string(attrs, "sk").ok_or_else(|| StoreError::Backend("item without sk".into()))?;
    let pair = |p: &str, s: &str| match (string(attrs, p), string(attrs, s)) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    let data = match string(attrs, "data") {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Backend(format!("corrupt item {pk}/{sk}: {e}")))?,
        None => serde_json::Value::Null,
    };
    Ok(Item {
        gsi1: pair("gsi1pk", "gsi1sk"),
        gsi2: pair("gsi2pk", "gsi2sk"),
        ttl: number(attrs, "ttl"),
        version: number(attrs, "version").unwrap_or(0).max(0) as u64,
        data,
        pk,
        sk,
    })
}

fn is_condition_failure<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// Why DynamoDB cancelled a transaction, in the port's terms.
enum Cancelled {
    Condition,
    /// Another transaction touched one of the items; nothing was applied, so
    /// trying again is safe.
    Conflict,
    Other(StoreError),
}

fn classify(e: aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>) -> Cancelled {
    if let Some(TransactWriteItemsError::TransactionCanceledException(t)) = e.as_service_error() {
        let codes: Vec<&str> = t
            .cancellation_reasons()
            .iter()
            .filter_map(|r| r.code())
            .collect();
        if codes.contains(&"ConditionalCheckFailed") {
            return Cancelled::Condition;
        }
        if codes.contains(&"TransactionConflict") {
            return Cancelled::Conflict;
        }
    }
    Cancelled::Other(backend(e))
}

/// How often a transaction cancelled by a concurrent one is tried again.
const CONFLICT_RETRIES: u32 = 6;

fn transact_item(table: &str, write: Write, now: i64) -> StoreResult<Option<TransactWriteItem>> {
    let built = match write {
        Write::Put(item, condition) => {
            let p = put_update(&item, condition, now)?;
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(p.key))
                .update_expression(p.update)
                .set_condition_expression(p.condition)
                .set_expression_attribute_names(p.expr.names())
                .set_expression_attribute_values(p.expr.values())
                .build()
                .map_err(backend)?;
            TransactWriteItem::builder().update(update).build()
        }
        Write::Delete { pk, sk, condition } => {
            let mut e = Expr::default();
            let c = e.condition(condition, now);
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key(&pk, &sk)))
                .set_condition_expression(c)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .build()
                .map_err(backend)?;
            TransactWriteItem::builder().delete(delete).build()
        }
        Write::Check { pk, sk, condition } => {
            let mut e = Expr::default();
            // A check of nothing checks nothing.
            let Some(c) = e.condition(condition, now) else {
                return Ok(None);
            };
            let check = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key(&pk, &sk)))
                .condition_expression(c)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .build()
                .map_err(backend)?;
            TransactWriteItem::builder().condition_check(check).build()
        }
        Write::Add { pk, sk, delta } => {
            let mut e = Expr::default();
            let nn = e.name("n");
            let d = e.value(n(delta));
            let version = e.name("version");
            let zero = e.value(n(0));
            let one = e.value(n(1));
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(key(&pk, &sk)))
                .update_expression(format!(
                    "ADD {nn} {d} SET {version} = if_not_exists({version}, {zero}) + {one}"
                ))
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .build()
                .map_err(backend)?;
            TransactWriteItem::builder().update(update).build()
        }
    };
    Ok(Some(built))
}

impl DynamoTable {
    /// Adds to a live (or absent) counter; `None` when the stored counter has
    /// expired and must be reset instead.
    async fn add_live(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        ttl: Option<i64>,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let mut e = Expr::default();
        let nn = e.name("n");
        let d = e.value(n(delta));
        let version = e.name("version");
        let zero = e.value(n(0));
        let one = e.value(n(1));
        let mut update =
            format!("ADD {nn} {d} SET {version} = if_not_exists({version}, {zero}) + {one}");
        if let Some(t) = ttl {
            let ttl_name = e.name("ttl");
            let tv = e.value(n(t));
            update += &format!(", {ttl_name} = {tv}");
        }
        let live = e.live(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .update_expression(update)
            .condition_expression(live)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(
                out.attributes
                    .as_ref()
                    .and_then(|a| number(a, "n"))
                    .unwrap_or(delta),
            )),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    /// Restarts an expired counter at `delta`; `false` if it is no longer expired.
    async fn reset_expired(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        ttl: Option<i64>,
        now: i64,
    ) -> StoreResult<bool> {
        let mut e = Expr::default();
        let nn = e.name("n");
        let d = e.value(n(delta));
        let version = e.name("version");
        let one = e.value(n(1));
        let ttl_name = e.name("ttl");
        let now_v = e.value(n(now));
        let update = match ttl {
            Some(t) => {
                let tv = e.value(n(t));
                format!("SET {nn} = {d}, {version} = {version} + {one}, {ttl_name} = {tv}")
            }
            None => format!("SET {nn} = {d}, {version} = {version} + {one} REMOVE {ttl_name}"),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .update_expression(update)
            .condition_expression(format!("{ttl_name} <= {now_v}"))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(backend(err)),
        }
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        match out.item {
            Some(attrs) if is_live(&attrs, now_secs()) && attrs.contains_key("data") => {
                Ok(Some(to_item(&attrs)?))
            }
            _ => Ok(None),
        }
    }

    async fn put(&self, mut item: Item, condition: Condition) -> StoreResult<Item> {
        let p = put_update(&item, condition, now_secs())?;
        let out = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(p.key))
            .update_expression(p.update)
            .set_condition_expression(p.condition)
            .set_expression_attribute_names(p.expr.names())
            .set_expression_attribute_values(p.expr.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| {
                if is_condition_failure(&e) {
                    StoreError::ConditionFailed
                } else {
                    backend(e)
                }
            })?;
        item.version = out
            .attributes
            .as_ref()
            .and_then(|a| number(a, "version"))
            .unwrap_or(1)
            .max(1) as u64;
        Ok(item)
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> StoreResult<Option<Item>> {
        let now = now_secs();
        let mut e = Expr::default();
        let c = e.condition(condition, now);
        let out = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .set_condition_expression(c)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| {
                if is_condition_failure(&e) {
                    StoreError::ConditionFailed
                } else {
                    backend(e)
                }
            })?;
        match out.attributes {
            Some(attrs) if is_live(&attrs, now) => Ok(Some(to_item(&attrs)?)),
            _ => Ok(None),
        }
    }

    async fn query(&self, q: Query) -> StoreResult<Page> {
        let now = now_secs();
        let (index_name, pk_attr, sk_attr) = match q.index {
            Index::Primary => (None, "pk", "sk"),
            Index::Gsi1 => (Some("gsi1"), "gsi1pk", "gsi1sk"),
            Index::Gsi2 => (Some("gsi2"), "gsi2pk", "gsi2sk"),
        };
        let mut e = Expr::default();
        let kpk = e.name(pk_attr);
        let pv = e.value(s(&q.pk));
        let key_condition = format!("{kpk} = {pv}{}", sort_key_condition(&mut e, sk_attr, &q.sk));
        let data = e.name("data");
        let live = e.live(now);
        let filter = format!("attribute_exists({data}) AND {live}");

        let mut start = match &q.cursor {
            Some(c) => {
                let last = c.last_key(&q)?;
                let mut k = key(&last.pk, &last.sk);
                if let Some(isk) = last.index_sk {
                    k.insert(pk_attr.to_owned(), s(&q.pk));
                    k.insert(sk_attr.to_owned(), s(isk));
                }
                Some(k)
            }
            None => None,
        };
        // One more than asked, to know whether another page exists. The filter
        // runs after DynamoDB's limit, so keep reading until that many matched.
        let want = q.limit + 1;
        let mut items = Vec::with_capacity(want.min(128));
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .set_index_name(index_name.map(str::to_owned))
                .key_condition_expression(&key_condition)
                .filter_expression(&filter)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .scan_index_forward(q.forward)
                .consistent_read(q.index == Index::Primary)
                .limit(i32::try_from(want - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for attrs in out.items() {
                items.push(to_item(attrs)?);
            }
            start = out.last_evaluated_key;
            if items.len() >= want || start.is_none() {
                break;
            }
        }
        let next = if items.len() > q.limit {
            items.truncate(q.limit);
            items.last().map(|last| Cursor::after_item(last, &q))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        if writes.len() > MAX_TRANSACTION_WRITES {
            return Err(StoreError::TooLarge(format!(
                "{} writes in one transaction",
                writes.len()
            )));
        }
        let now = now_secs();
        let mut items = Vec::with_capacity(writes.len());
        for w in writes {
            if let Some(item) = transact_item(&self.name, w, now)? {
                items.push(item);
            }
        }
        if items.is_empty() {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match result.map_err(classify) {
                Ok(_) => return Ok(()),
                Err(Cancelled::Condition) => return Err(StoreError::ConditionFailed),
                Err(Cancelled::Conflict) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    let jitter = rand::random::<u64>() % 20;
                    tokio::time::sleep(Duration::from_millis((10 << attempt) + jitter)).await;
                }
                Err(Cancelled::Conflict) => {
                    return Err(StoreError::Backend(
                        "transaction kept conflicting with concurrent writes".into(),
                    ));
                }
                Err(Cancelled::Other(e)) => return Err(e),
            }
        }
    }

    async fn add(&self, pk: &str, sk: &str, delta: i64, ttl: Option<i64>) -> StoreResult<i64> {
        // Two steps only when the stored counter has expired but is not swept
        // yet; a concurrent reset sends us round once more.
        for _ in 0..4 {
            let now = now_secs();
            if let Some(value) = self.add_live(pk, sk, delta, ttl, now).await? {
                return Ok(value);
            }
            if self.reset_expired(pk, sk, delta, ttl, now).await? {
                return Ok(delta);
            }
        }
        Err(StoreError::Backend(format!(
            "counter {pk}/{sk} kept changing between expiry and reset"
        )))
    }

    async fn counter(&self, pk: &str, sk: &str) -> StoreResult<i64> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(match out.item {
            Some(attrs) if is_live(&attrs, now_secs()) => number(&attrs, "n").unwrap_or(0),
            _ => 0,
        })
    }

    async fn counters(&self, pk: &str, range: SortKey) -> StoreResult<Vec<(String, i64)>> {
        let now = now_secs();
        let mut e = Expr::default();
        let kpk = e.name("pk");
        let pv = e.value(s(pk));
        let key_condition = format!("{kpk} = {pv}{}", sort_key_condition(&mut e, "sk", &range));
        let nn = e.name("n");
        let live = e.live(now);
        let filter = format!("attribute_exists({nn}) AND {live}");
        let ksk = e.name("sk");
        let projection = format!("{ksk}, {nn}");
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression(&key_condition)
                .filter_expression(&filter)
                .projection_expression(&projection)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for attrs in page.items() {
                if let (Some(sk), Some(n)) = (string(attrs, "sk"), number(attrs, "n")) {
                    out.push((sk, n));
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}
