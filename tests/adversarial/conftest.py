"""Attack tests (issue 13): one module per threat, against real srpfast code; network
scenarios use loopback only (127.0.0.0/8), bounded in count and time. docs/SECURITY.md maps
each threat to its defence, its bound and the test here that proves it."""
