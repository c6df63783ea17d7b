"""Active Directory over LDAP: the only place ldap3 is imported.

`connection` opens a verified TLS session and binds (simple, Kerberos, NTLM), reads the rootDSE and
pages searches; `directory` reads computers, published printers and accounts, expands groups and looks
SIDs up; `devices` decides which accounts look like printer/scanner/service accounts (pure).
"""
