"""Following the chain: the Ogmios client, the writer and what it applies (rows, boundaries),
the reward capture, the network facts and the sync state they share."""
