"""The FTP door (and FTPS): posture, logins, what each identity reaches, the walk (collector.py)."""
