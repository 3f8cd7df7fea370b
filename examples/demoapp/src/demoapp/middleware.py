from .release import RELEASE


def release_header(get_response):
    """Add ``X-Release: <release>`` to every response."""

    def middleware(request):
        response = get_response(request)
        response['X-Release'] = RELEASE
        return response

    return middleware
