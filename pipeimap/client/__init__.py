"""pipeimap.client -- the async I/O layer: transport, connection, authentication and the
public Client API (AnyIO; Trio is the default backend)."""
