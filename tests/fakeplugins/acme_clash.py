from tests.fakeplugins.acme_spot import SpotPlugin

# Claims the name acme_spot already has.
impostor = SpotPlugin()
