"""The accounting: the exact reward split, writing figures and splits, reward imports and the
exports. The arithmetic (``rewards``) and the file formats are pure."""
