"""`python -m web.catcher`: the mail catcher `flowdesk up` starts (see `web.catcher`)."""

from web.catcher import main

main()
