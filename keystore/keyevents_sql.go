package keystore

// maxEventsPerRead bounds the trail rows one catch-up query reads; a
// longer backlog is read in several queries. The statements of key
// events are internal/sqldialect's KeyEventQueries.
const maxEventsPerRead = 256
