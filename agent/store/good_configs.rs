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
    /// Records that `clients` loaded from `text` at `at`, and forgets the kept config of every
    /// client not in `configured` (a client removed: its id may come back as another's).
    /// Texts no client loads from any longer go. The caller gives a text with no comment and
    /// no block that did not load (`daemon::kept_text`): either may hold what must not be
    /// stored.
    pub fn remember_good_config(
        &mut self,
        text: &str,
        clients: &[&str],
        configured: &[&str],
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
            {
                let mut stored = tx.prepare_cached("SELECT client FROM client_good_configs")?;
                let gone: Vec<String> = stored
                    .query_map([], |row| row.get::<_, String>(0))?
                    .filter(|client| {
                        client
                            .as_ref()
                            .map_or(true, |client| !configured.contains(&client.as_str()))
                    })
                    .collect::<rusqlite::Result<_>>()?;
                let mut forget =
                    tx.prepare_cached("DELETE FROM client_good_configs WHERE client = ?1")?;
                for client in &gone {
                    forget.execute(params![client])?;
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
    use crate::store::Store;
    use crate::store::test_util::{temp_store, ts};

    #[test]
    fn each_client_gets_the_text_it_last_loaded_from_and_unused_texts_go() {
        let mut t = temp_store();
        let store = &mut t.store;
        assert_eq!(store.good_config("acme").unwrap(), None);
        let both = ["acme", "birch"];
        store
            .remember_good_config("v1", &both, &both, ts("2026-11-23T09:00:00Z"))
            .unwrap();
        // Birch quarantined: acme moves on alone.
        store
            .remember_good_config("v2", &["acme"], &both, ts("2026-11-24T09:00:00Z"))
            .unwrap();
        fn text(store: &Store, client: &str) -> Option<String> {
            store.good_config(client).unwrap().map(|g| g.text)
        }
        assert_eq!(text(store, "acme").as_deref(), Some("v2"));
        assert_eq!(text(store, "birch").as_deref(), Some("v1"));
        // Birch moves on too: v1 is nobody's any more and is not kept.
        store
            .remember_good_config("v2", &["birch"], &both, ts("2026-11-25T09:00:00Z"))
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
        // Birch removed from the config: its id, if it comes back, is someone else's.
        store
            .remember_good_config("v3", &["acme"], &["acme"], ts("2026-11-26T09:00:00Z"))
            .unwrap();
        assert_eq!(store.good_config("birch").unwrap(), None);
        assert_eq!(text(store, "acme").as_deref(), Some("v3"));
    }
}
