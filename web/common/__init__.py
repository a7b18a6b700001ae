"""What every feature package of the web app stands on, and no page of its own.

Errors answered in one place (`errors`), JSON bodies read strictly (`jsonbody`), time
in words (`moments`), the app's guards (`security`), the service layer as views reach
it (`services`) and files posted with a form (`uploads`). The pages and endpoints live
in their feature packages: `portal`, `desk`, `admin`, `api`, `ops`.
"""
