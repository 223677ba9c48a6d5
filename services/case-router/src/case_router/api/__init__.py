"""The agent desk and reports: HTTP in, the same casebook and domain as the handlers."""

from case_router.api.cases import router as cases_router
from case_router.api.certifications import router as certifications_router
from case_router.api.desk import router as desk_router
from case_router.api.records import router as records_router
from case_router.api.reports import router as reports_router
from case_router.api.supervisor import router as supervisor_router

ROUTERS = [cases_router, desk_router, records_router, supervisor_router, reports_router, certifications_router]
