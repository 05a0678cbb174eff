//! PostgreSQL store (in progress).

use tokio_util::sync::CancellationToken;

/// Streams kept in PostgreSQL.
pub struct PgStore;

impl PgStore {
    pub async fn open(_pool: sqlx::PgPool, _shutdown: CancellationToken) -> Result<PgStore, sqlx::Error> {
        Err(sqlx::Error::Protocol("not yet".into()))
    }
}

#[async_trait::async_trait]
impl super::Store for PgStore {
    async fn create(&self, _: &super::StreamKey, _: super::CreateStream) -> Result<super::Created, super::StoreError> {
        Err(super::StoreError::NotFound)
    }
    async fn append(&self, _: &super::StreamKey, _: super::Append) -> Result<super::Appended, super::StoreError> {
        Err(super::StoreError::NotFound)
    }
    async fn head(&self, _: &super::StreamKey) -> Result<super::StreamInfo, super::StoreError> {
        Err(super::StoreError::NotFound)
    }
    async fn read(&self, _: &super::StreamKey, _: super::ReadFrom, _: usize) -> Result<super::Chunk, super::StoreError> {
        Err(super::StoreError::NotFound)
    }
    async fn delete(&self, _: &super::StreamKey) -> Result<(), super::StoreError> {
        Err(super::StoreError::NotFound)
    }
    async fn watch(&self, _: &super::StreamKey) -> Result<super::Watch, super::StoreError> {
        Err(super::StoreError::NotFound)
    }
}
