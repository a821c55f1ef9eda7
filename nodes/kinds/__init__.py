"""One module per node kind; the file name is the kind."""
