//! PostgreSQL through sqlx's native driver: values bound with their types, rows read by the
//! type PostgreSQL reports for each column.

use super::{DbError, DbResult, Query, Row, Val};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Column, Executor, Postgres, Row as _, TypeInfo};
use std::sync::Arc;

pub(crate) fn err(e: sqlx::Error) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Unique(e.to_string()),
        _ => DbError::Other(e.to_string()),
    }
}

fn prepare(q: &Query) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    let mut x = sqlx::query(&q.sql);
    for v in &q.args {
        x = match v {
            Val::Int(i) => x.bind(*i),
            Val::Text(s) => x.bind(s.as_deref()),
        };
    }
    x
}

fn value(row: &PgRow, i: usize) -> DbResult<Val> {
    let ty = row.column(i).type_info().name().to_string();
    let bad = |e: sqlx::Error| DbError::Other(format!("column {i} ({ty}): {e}"));
    Ok(match ty.as_str() {
        "INT8" => Val::Int(row.try_get::<Option<i64>, _>(i).map_err(bad)?),
        "INT4" => Val::Int(
            row.try_get::<Option<i32>, _>(i)
                .map_err(bad)?
                .map(i64::from),
        ),
        "INT2" => Val::Int(
            row.try_get::<Option<i16>, _>(i)
                .map_err(bad)?
                .map(i64::from),
        ),
        "BOOL" => Val::Int(
            row.try_get::<Option<bool>, _>(i)
                .map_err(bad)?
                .map(i64::from),
        ),
        _ => Val::Text(row.try_get::<Option<String>, _>(i).map_err(bad)?),
    })
}

fn to_rows(rows: Vec<PgRow>) -> DbResult<Vec<Row>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let cols: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    rows.iter()
        .map(|r| {
            Ok(Row {
                cols: cols.clone(),
                vals: (0..cols.len())
                    .map(|i| value(r, i))
                    .collect::<DbResult<_>>()?,
            })
        })
        .collect()
}

pub(crate) async fn fetch<'e, E>(e: E, q: &Query) -> DbResult<Vec<Row>>
where
    E: Executor<'e, Database = Postgres>,
{
    to_rows(prepare(q).fetch_all(e).await.map_err(err)?)
}

pub(crate) async fn exec<'e, E>(e: E, q: &Query) -> DbResult<u64>
where
    E: Executor<'e, Database = Postgres>,
{
    Ok(prepare(q).execute(e).await.map_err(err)?.rows_affected())
}

pub(crate) async fn batch(p: &sqlx::PgPool, sql: &str) -> DbResult<()> {
    sqlx::raw_sql(sql).execute(p).await.map_err(err)?;
    Ok(())
}
