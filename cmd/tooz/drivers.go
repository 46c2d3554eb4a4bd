package main

// Every built-in backend.
import _ "github.com/toozgo/tooz/drivers/all"
