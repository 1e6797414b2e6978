# The Prism fix: drop the literal "- null" enum entries (see SOURCE.md).
/^[[:space:]]*- null[[:space:]]*$/d
