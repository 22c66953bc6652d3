"""Phase reconstruction: RTISI-LA (streaming), Griffin-Lim (offline), chunked offline."""
