"""DICOM: the PACS and modality-archive door (`DicomCollector` in collector.py).

Only `association.py` imports pynetdicom and pydicom; `options.py`, `first_contact.py` and `judge.py` are
plain Python (the options, the raw first contact, and the pure decisions made from the answers).
"""
