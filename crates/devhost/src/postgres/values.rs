//! Conversions between `spin:postgres` values and Postgres wire types,
//! following Spin's mapping: a parameter must match the type Postgres infers
//! for it (cast in SQL where it does not), and results come back typed by
//! column.

use bytes::BytesMut;
use chrono::{Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _};
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, ToSql, Type};

use super::bindings::spin::postgres::postgres::{
    Column, DbDataType, DbValue, Error as GuestError, Interval, ParameterValue, QueryError,
};

pub type SqlParam = Box<dyn ToSql + Sync + Send>;

/// Turns guest parameters into values tokio-postgres can bind.
pub fn to_sql_params(params: Vec<ParameterValue>) -> Result<Vec<SqlParam>, GuestError> {
    params.into_iter().map(to_sql).collect()
}

fn to_sql(value: ParameterValue) -> Result<SqlParam, GuestError> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(v),
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::Date((year, month, day)) => Box::new(
            NaiveDate::from_ymd_opt(year, month.into(), day.into())
                .ok_or_else(|| bad("invalid date"))?,
        ),
        ParameterValue::Time((hour, minute, second, nanos)) => Box::new(
            NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nanos)
                .ok_or_else(|| bad("invalid time"))?,
        ),
        ParameterValue::Datetime((year, month, day, hour, minute, second, nanos)) => {
            let date = NaiveDate::from_ymd_opt(year, month.into(), day.into())
                .ok_or_else(|| bad("invalid datetime"))?;
            let time = NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nanos)
                .ok_or_else(|| bad("invalid datetime"))?;
            Box::new(NaiveDateTime::new(date, time))
        }
        // Spin binds `timestamp` as a plain BIGINT (spin-sdk maps it to `chrono::Duration`).
        ParameterValue::Timestamp(seconds) => Box::new(seconds),
        ParameterValue::Uuid(v) => Box::new(uuid::Uuid::parse_str(&v).map_err(|e| bad(&format!("invalid uuid: {e}")))?),
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(&v).map_err(|e| bad(&format!("invalid jsonb: {e}")))?,
        ),
        ParameterValue::Decimal(v) => Box::new(
            rust_decimal::Decimal::from_str_exact(&v).map_err(|e| bad(&format!("invalid decimal: {e}")))?,
        ),
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.into_iter()
                .map(|d| d.map(|d| rust_decimal::Decimal::from_str_exact(&d)).transpose())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(&format!("invalid decimal: {e}")))?,
        ),
        ParameterValue::Interval(v) => Box::new(PgInterval(v)),
        ParameterValue::DbNull => Box::new(Null),
        ParameterValue::RangeInt32(_) | ParameterValue::RangeInt64(_) | ParameterValue::RangeDecimal(_) => {
            return Err(bad("range parameters are not supported by the devhost"))
        }
    })
}

fn bad(message: &str) -> GuestError {
    GuestError::BadParameter(message.to_owned())
}

/// SQL NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[derive(Debug)]
struct PgInterval(Interval);

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut as _;
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    accepts!(INTERVAL);
    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw: [u8; 16] = raw.try_into()?;
        Ok(Self(Interval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        }))
    }

    accepts!(INTERVAL);
}

/// The raw bytes of a value of a type we do not map.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The column descriptions of a result.
pub fn columns(columns: &[tokio_postgres::Column]) -> Vec<Column> {
    columns
        .iter()
        .map(|column| Column {
            name: column.name().to_owned(),
            data_type: data_type(column.type_()),
        })
        .collect()
}

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSON | Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        ref other => DbDataType::Other(other.name().to_owned()),
    }
}

/// One result row as guest values.
pub fn row(row: &tokio_postgres::Row) -> Result<Vec<DbValue>, GuestError> {
    (0..row.len()).map(|index| value(row, index)).collect()
}

fn value(row: &tokio_postgres::Row, index: usize) -> Result<DbValue, GuestError> {
    fn get<'a, T: FromSql<'a>>(row: &'a tokio_postgres::Row, index: usize) -> Result<Option<T>, GuestError> {
        // Spin reports a column it cannot convert as a failed query, which
        // fails the whole statement.
        row.try_get::<_, Option<T>>(index)
            .map_err(|e| GuestError::QueryFailed(QueryError::Text(super::with_causes(&e))))
    }
    let ty = row.columns()[index].type_().clone();
    let value = match ty {
        Type::BOOL => get::<bool>(row, index)?.map(DbValue::Boolean),
        Type::CHAR => get::<i8>(row, index)?.map(DbValue::Int8),
        Type::INT2 => get::<i16>(row, index)?.map(DbValue::Int16),
        Type::INT4 => get::<i32>(row, index)?.map(DbValue::Int32),
        Type::INT8 => get::<i64>(row, index)?.map(DbValue::Int64),
        Type::FLOAT4 => get::<f32>(row, index)?.map(DbValue::Floating32),
        Type::FLOAT8 => get::<f64>(row, index)?.map(DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get::<String>(row, index)?.map(DbValue::Str),
        Type::BYTEA => get::<Vec<u8>>(row, index)?.map(DbValue::Binary),
        Type::DATE => get::<NaiveDate>(row, index)?.map(|d| DbValue::Date(date_tuple(d))),
        Type::TIME => get::<NaiveTime>(row, index)?.map(|t| DbValue::Time(time_tuple(t))),
        // As Spin 4.0.2: both through `NaiveDateTime`, which tokio-postgres
        // refuses for `timestamptz` ("cannot convert between the Rust type
        // ... and the Postgres type `timestamptz`"), failing the query.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            get::<NaiveDateTime>(row, index)?.map(|dt| DbValue::Datetime(datetime_tuple(dt)))
        }
        Type::UUID => get::<uuid::Uuid>(row, index)?.map(|u| DbValue::Uuid(u.to_string())),
        Type::JSON | Type::JSONB => get::<serde_json::Value>(row, index)?
            .map(|json| DbValue::Jsonb(serde_json::to_vec(&json).unwrap_or_default())),
        Type::NUMERIC => get::<rust_decimal::Decimal>(row, index)?.map(|d| DbValue::Decimal(d.to_string())),
        Type::INT4_ARRAY => get::<Vec<Option<i32>>>(row, index)?.map(DbValue::ArrayInt32),
        Type::INT8_ARRAY => get::<Vec<Option<i64>>>(row, index)?.map(DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get::<Vec<Option<rust_decimal::Decimal>>>(row, index)?
            .map(|v| DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => get::<Vec<Option<String>>>(row, index)?.map(DbValue::ArrayStr),
        Type::INTERVAL => get::<PgInterval>(row, index)?.map(|i| DbValue::Interval(i.0)),
        _ => get::<Raw>(row, index)?.map(|raw| DbValue::Unsupported(raw.0)),
    };
    Ok(value.unwrap_or(DbValue::DbNull))
}

fn date_tuple(date: NaiveDate) -> (i32, u8, u8) {
    // Month and day always fit a u8.
    (date.year(), date.month() as u8, date.day() as u8)
}

fn time_tuple(time: NaiveTime) -> (u8, u8, u8, u32) {
    (time.hour() as u8, time.minute() as u8, time.second() as u8, time.nanosecond())
}

fn datetime_tuple(dt: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (year, month, day) = date_tuple(dt.date());
    let (hour, minute, second, nanos) = time_tuple(dt.time());
    (year, month, day, hour, minute, second, nanos)
}
