"""A fifth resource, declared exactly as README "Adding a resource" says: its resource module
(resource.py), its schema module (schema.py), a migration and one registry line
(test_fifth_resource.py registers it for the test's app and takes it out again)."""
