//! The config text each MSP client last loaded from, kept so that a client quarantined by a
//! later edit runs on it after a restart too (`daemon::restore_last_good`).

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::evidence::sha256_hex;
use super::{Store, StoreError, bad_column, ts_text};

/// A config text a client last loaded from, and when it was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodConfig {
    pub text: String,
    pub loaded_at: Timestamp,
}

impl Store {
    /// Records that `clients` loaded from `text` at `at`. Only a text in which nothing is
    /// quarantined is given: a block that does not load may hold what must not be stored (a
    /// secret written where its reference belongs). Texts no client loads from any longer go.
    pub fn remember_good_config(
        &mut self,
        text: &str,
        clients: &[&str],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let on_err = self.sql_error("recording the config the clients loaded from".to_owned());
        let sha = sha256_hex(text.as_bytes());
        let at = ts_text(at);
        let write = |store: &mut Store| -> rusqlite::Result<()> {
            let tx = store.write_tx()?;
            tx.prepare_cached(
                "INSERT INTO good_configs (sha256, text, loaded_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sha256) DO UPDATE SET loaded_at = excluded.loaded_at",
            )?
            .execute(params![sha, text, at])?;
            let id: i64 = tx
                .prepare_cached("SELECT id FROM good_configs WHERE sha256 = ?1")?
                .query_row(params![sha], |row| row.get(0))?;
            {
                let mut point = tx.prepare_cached(
                    "INSERT INTO client_good_configs (client, config_id) VALUES (?1, ?2)
                     ON CONFLICT (client) DO UPDATE SET config_id = excluded.config_id",
                )?;
                for client in clients {
                    point.execute(params![client, id])?;
                }
            }
            tx.execute(
                "DELETE FROM good_configs WHERE NOT EXISTS (
                     SELECT 1 FROM client_good_configs c WHERE c.config_id = good_configs.id)",
                [],
            )?;
            tx.commit()
        };
        write(self).map_err(on_err)
    }

    /// The config text `client` last loaded from, if one is kept.
    pub fn good_config(&self, client: &str) -> Result<Option<GoodConfig>, StoreError> {
        let on_err = self.sql_error(format!("reading the config {client} last loaded from"));
        self.conn
            .prepare_cached(
                "SELECT g.text, g.loaded_at FROM client_good_configs c
                 JOIN good_configs g ON g.id = c.config_id WHERE c.client = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![client], |row| {
                    let loaded_at: String = row.get(1)?;
                    Ok(GoodConfig {
                        text: row.get(0)?,
                        loaded_at: loaded_at.parse().map_err(|e| bad_column(1, e))?,
                    })
                })
                .optional()
            })
            .map_err(on_err)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_util::{temp_store, ts};

    #[test]
    fn each_client_gets_the_text_it_last_loaded_from_and_unused_texts_go() {
        let mut t = temp_store();
        let store = &mut t.store;
        assert_eq!(store.good_config("acme").unwrap(), None);
        store
            .remember_good_config("v1", &["acme", "birch"], ts("2026-11-23T09:00:00Z"))
            .unwrap();
        store
            .remember_good_config("v2", &["acme"], ts("2026-11-24T09:00:00Z"))
            .unwrap();
        let text = |client: &str| store.good_config(client).unwrap().map(|g| g.text);
        assert_eq!(text("acme").as_deref(), Some("v2"));
        assert_eq!(text("birch").as_deref(), Some("v1"));
        // Birch moves on too: v1 is nobody's any more and is not kept.
        store
            .remember_good_config("v2", &["birch"], ts("2026-11-25T09:00:00Z"))
            .unwrap();
        let texts: i64 = store
            .conn
            .query_row("SELECT count(*) FROM good_configs", [], |row| row.get(0))
            .unwrap();
        assert_eq!(texts, 1);
        assert_eq!(
            store.good_config("birch").unwrap().map(|g| g.loaded_at),
            Some(ts("2026-11-25T09:00:00Z"))
        );
    }
}
