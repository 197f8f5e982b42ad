"""Read API and operator endpoints; it reads job records and never queries a cluster."""
