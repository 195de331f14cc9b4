-- Schema v3: utxo_spent's slot index is a BRIN instead of a B-tree. Spends arrive in slot
-- order, and only a rollback (the newest slots) and the pruning (the oldest) look them up by
-- slot, so a B-tree insert per spend bought nothing (README "Measured").
DROP INDEX utxo_spent_slot;
CREATE INDEX utxo_spent_slot ON utxo_spent USING brin (spent_slot);
